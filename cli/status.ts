import { notAvailable } from "./command.ts";

export const { run } = notAvailable("status", 4);
