import { sharedVitestConfig } from '../../vitest.shared.js';

export default sharedVitestConfig({ testTimeout: 60_000 });
