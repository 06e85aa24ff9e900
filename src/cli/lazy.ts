/**
 * Command actions that load their implementation when they run. Commander needs every command's
 * definition to parse a command line and print help; with the actions loaded this way, defining
 * them loads none of what the commands use (the manager, dockerode, pg, zod schemas), and a
 * command loads only its own group's implementation (`src/cli/actions/`).
 */

type ActionNames<M> = { [K in keyof M]: M[K] extends (...args: never[]) => Promise<void> ? K : never }[keyof M];

/**
 * `const run = actionsOf(() => import('../actions/tables.js'))`, then `.action(run('list'))`:
 * commander's arguments (operands, options, the command) go to the module's `list` as they are.
 */
export function actionsOf<M>(load: () => Promise<M>): (name: ActionNames<M>) => (...args: unknown[]) => Promise<void> {
  return (name) =>
    async (...args) => {
      const action = (await load())[name] as (...args: unknown[]) => Promise<void>;
      await action(...args);
    };
}
