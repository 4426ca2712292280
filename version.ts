/** The product version, printed by `weavets version` and reported to peers and runtimes. */
export const VERSION = "0.1.0";
