import { notAvailable } from "./command.ts";

export const { run } = notAvailable("peers", 4);
