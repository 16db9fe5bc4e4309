// Tests import the local-cluster harness from here; it lives in scripts/harness/ because the
// benches use it too and no production folder may import test/ (test/layers checks it).
export * from '../../scripts/harness/cell-cluster.js';
