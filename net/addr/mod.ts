export * from "./ipv4.ts";
export * from "./mac.ts";
