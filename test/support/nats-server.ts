// Tests import the local-cluster launcher from here; it lives in scripts/cluster/ because the
// benches, chaos and npm start use it too and no production folder may import test/ (test/layers checks it).
export { startNatsServer, type NatsServer } from '../../scripts/cluster/nats.js';
export { natsServerBinary } from '../../scripts/nats-cluster.js';
