import { notAvailable } from "./command.ts";

export const { run } = notAvailable("rmpeer", 5);
