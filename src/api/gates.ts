import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AuditLog } from '../auth/audit.js';
import type { Logger } from '../log/logger.js';
import { beginAccess, logRequest } from './access.js';

/**
 * One check that every request meets before its route (the network allowlist, the limit on
 * failed authentications, the browser guards, the JSON body and its depth): the refusal, or
 * undefined to let it pass. Written against node's own request and response, so that the express
 * app and the data lane (dataLane.ts) run the same checks.
 */
export type Gate = (req: IncomingMessage, res: ServerResponse) => Error | undefined | Promise<Error | undefined>;

/** A connect middleware (the JSON body parser) as a gate: the error it passes on is the refusal. */
export function middlewareGate(middleware: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void): Gate {
  return (req, res) => new Promise((resolve) => middleware(req, res, (err) => resolve(err === undefined || err === null ? undefined : (err as Error))));
}

/** Runs gates in order; the first refusal, or undefined. A gate that answers at once is not awaited (no turn of the event loop per gate). */
export async function passGates(gates: Gate[], req: IncomingMessage, res: ServerResponse): Promise<Error | undefined> {
  for (const gate of gates) {
    let refusal = gate(req, res);
    if (refusal instanceof Promise) refusal = await refusal;
    if (refusal) return refusal;
  }
  return undefined;
}

/** The first steps of a request: the refusal of the first gate that refuses, or undefined. */
export type Preamble = (req: IncomingMessage, res: ServerResponse) => Promise<Error | undefined>;

/**
 * Every request's first steps, in this order, for the express app and the data lane alike: its
 * id and audit line (beginAccess), the gates, then (with debug on) its log line.
 */
export function requestPreamble(audit: AuditLog, logger: Logger, gates: Gate[]): Preamble {
  const debug = logger.isDebugEnabled();
  return async (req, res) => {
    beginAccess(audit, logger, req, res);
    const refusal = await passGates(gates, req, res);
    if (!refusal && debug) logRequest(logger, req, (req.url ?? '').split('?')[0] ?? '', res);
    return refusal;
  };
}

/** The preamble as the express app's first middleware. */
export function preambleMiddleware(preamble: Preamble): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    preamble(req, res).then((refusal) => next(refusal), next);
  };
}
