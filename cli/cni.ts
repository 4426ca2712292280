import { notAvailable } from "./command.ts";

export const { run } = notAvailable("cni", 3);
