/**
 * Test double around a real userspace-path Worker (fault_tx_worker.ts, fault_rx_worker.ts import
 * the real module, then this): every 20 ms it looks for a file named after its role in
 * $WTD_FAULT_DIR; when one appears it removes it and throws from a timer — an uncaught error, as a
 * bug anywhere in the Worker would throw — so supervision_test.ts can kill a Worker inside a real
 * daemon. Everything else is the real Worker.
 */
/// <reference lib="deno.worker" />
export function armFault(role: "tx" | "rx"): void {
  const dir = Deno.env.get("WTD_FAULT_DIR");
  if (!dir) throw new Error("fault_worker.ts needs WTD_FAULT_DIR");
  const trigger = `${dir}/${role}`;
  setInterval(() => {
    try {
      Deno.removeSync(trigger);
    } catch {
      return; // not there
    }
    throw new Error(`fault injected into the ${role} Worker`);
  }, 20);
}
