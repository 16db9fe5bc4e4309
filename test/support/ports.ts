// Tests import the local-cluster launcher from here; it lives in scripts/cluster/ because the
// benches, chaos and npm start use it too and no production folder may import test/ (test/layers checks it).
export * from '../../scripts/cluster/ports.js';
