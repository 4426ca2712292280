import { notAvailable } from "./command.ts";

export const { run } = notAvailable("demo", 7);
