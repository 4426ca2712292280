import { notAvailable } from "./command.ts";

export const { run } = notAvailable("daemon", 4);
