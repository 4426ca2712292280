/** The real rx Worker, killable by supervision_test.ts (fault_worker.ts). */
import "../../net/dataplane/sleeve/rx_worker.ts";
import { armFault } from "./fault_worker.ts";

armFault("rx");
