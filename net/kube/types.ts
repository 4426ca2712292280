/**
 * The few Kubernetes API shapes weavets reads, as zod schemas: parsed once at the client's edge.
 * Objects are loose (unknown fields kept), so an object read and written back (a ConfigMap update)
 * loses nothing the API server or other writers put there.
 */
import { z } from "zod";

export const objectMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  resourceVersion: z.string().optional(),
  annotations: z.record(z.string(), z.string()).nullish(),
});

export const nodeAddressSchema = z.looseObject({ type: z.string(), address: z.string() });

export const nodeConditionSchema = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
});

export const nodeSchema = z.looseObject({
  metadata: objectMetaSchema,
  status: z.looseObject({
    addresses: z.array(nodeAddressSchema).nullish(),
    conditions: z.array(nodeConditionSchema).nullish(),
  }).optional(),
});
export type Node = z.infer<typeof nodeSchema>;

/** One page of a list; items are parsed one by one afterwards (see watchLineSchema). */
export const listPageSchema = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string(), continue: z.string().optional() }),
  items: z.array(z.unknown()).nullable().transform((v) => v ?? []),
});

/** The API's error body (kind Status). */
export const statusSchema = z.looseObject({
  kind: z.literal("Status"),
  code: z.number().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});
export type Status = z.infer<typeof statusSchema>;

/**
 * One line of a watch stream, the object not parsed yet (watch() parses it with the resource's
 * own schema, so one odd object costs one event, not the stream). ERROR carries a Status (410
 * Gone: resourceVersion too old); a BOOKMARK only metadata.resourceVersion.
 */
export const watchLineSchema = z.discriminatedUnion("type", [
  z.object({ type: z.enum(["ADDED", "MODIFIED", "DELETED"]), object: z.unknown() }),
  z.object({
    type: z.literal("BOOKMARK"),
    object: z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string() }) }),
  }),
  z.object({ type: z.literal("ERROR"), object: statusSchema }),
]);

/** What a watch yields (ERROR events are raised as errors instead). */
export type WatchChange<T> =
  | { type: "ADDED" | "MODIFIED" | "DELETED"; object: T }
  | { type: "BOOKMARK"; object: { metadata: { resourceVersion: string } } }
  /** An object that does not fit the schema: skipped, with its resourceVersion if it has one. */
  | { type: "INVALID"; resourceVersion?: string; error: string };

export type NodeChange = Exclude<WatchChange<Node>, { type: "INVALID" }>;

/** A list's items that fit the schema, and how many did not. */
export interface ListResult<T> {
  /** Where a watch of the collection starts. */
  metadata: { resourceVersion: string };
  items: T[];
  invalid: number;
}

export const configMapSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: objectMetaSchema,
  data: z.record(z.string(), z.string()).nullish(),
});
export type ConfigMap = z.infer<typeof configMapSchema>;

/** A Secret's data values are base64 (the API's encoding); decode them where they are used. */
export const secretSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: objectMetaSchema,
  data: z.record(z.string(), z.string()).nullish(),
});
export type Secret = z.infer<typeof secretSchema>;
