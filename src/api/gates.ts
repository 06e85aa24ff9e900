import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { DbaasError } from '../errors.js';

/**
 * One check that every request meets before its route (the network allowlist, the limit on
 * failed authentications, the browser guards, the depth of a JSON body): the refusal, or
 * undefined to let it pass. Written against node's own request and response, so that the express
 * app and the data lane (dataLane.ts) run the same checks, in the same order.
 */
export type Gate = (req: IncomingMessage, res: ServerResponse) => DbaasError | undefined | Promise<DbaasError | undefined>;

/** A gate as express middleware. */
export function gateMiddleware(gate: Gate): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    try {
      const refusal = gate(req, res);
      if (refusal instanceof Promise) refusal.then((r) => next(r), next);
      else next(refusal);
    } catch (err) {
      next(err);
    }
  };
}

/** Runs gates in order; the first refusal, or undefined. A gate that answers at once is not awaited (no turn of the event loop per gate). */
export async function passGates(gates: Gate[], req: IncomingMessage, res: ServerResponse): Promise<DbaasError | undefined> {
  for (const gate of gates) {
    let refusal = gate(req, res);
    if (refusal instanceof Promise) refusal = await refusal;
    if (refusal) return refusal;
  }
  return undefined;
}
