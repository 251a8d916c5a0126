import { UsageError } from '../../workers/core/errors.js';
import type { CommandMain } from '../cli.js';

// Placeholder until the command lands; removed from the command table if it does not.
export const main: CommandMain = async () => {
  throw new UsageError("'export' is not available in this build");
};
