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

export const nodeListSchema = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string(), continue: z.string().optional() }),
  items: z.array(nodeSchema).nullable().transform((v) => v ?? []),
});
export type NodeList = z.infer<typeof nodeListSchema>;

/** The API's error body (kind Status). */
export const statusSchema = z.looseObject({
  kind: z.literal("Status"),
  code: z.number().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});
export type Status = z.infer<typeof statusSchema>;

/** One line of a watch stream. ERROR carries a Status (410 Gone: resourceVersion too old). */
export const nodeWatchEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.enum(["ADDED", "MODIFIED", "DELETED"]), object: nodeSchema }),
  // A bookmark carries only metadata.resourceVersion of an otherwise empty Node.
  z.object({
    type: z.literal("BOOKMARK"),
    object: z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string() }) }),
  }),
  z.object({ type: z.literal("ERROR"), object: statusSchema }),
]);
export type NodeWatchEvent = z.infer<typeof nodeWatchEventSchema>;
/** What a watch yields: ERROR events are raised as errors instead. */
export type NodeChange = Exclude<NodeWatchEvent, { type: "ERROR" }>;

export const configMapSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: objectMetaSchema,
  data: z.record(z.string(), z.string()).nullish(),
});
export type ConfigMap = z.infer<typeof configMapSchema>;
