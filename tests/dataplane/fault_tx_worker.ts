/** The real tx Worker, killable by supervision_test.ts (fault_worker.ts). */
import "../../net/dataplane/sleeve/tx_worker.ts";
import { armFault } from "./fault_worker.ts";

armFault("tx");
