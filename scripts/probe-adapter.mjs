// Exit 0 and print the adapter's description if Dawn (npm `webgpu`) finds a WebGPU adapter.
// Kept free of TypeScript so the setup script can run it before anything is built.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) process.exit(1);
const info = adapter.info ?? {};
console.log(`${info.vendor || '?'} ${info.description || info.device || ''}`.trim());
process.exit(0);
