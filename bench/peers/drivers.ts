// Builds the client driver for a target; the one place that knows every driver, so generator
// threads can construct theirs from a structured-cloned TargetSpec.

import { CellkvHttpDriver, CellkvNatsDriver } from './cellkv-client.js';
import { EtcdDriver } from './etcd-client.js';
import { JetStreamDriver } from './jetstream-client.js';
import type { DriverOptions, KvDriver, TargetSpec } from './types.js';

export async function createDriver(spec: TargetSpec, o: DriverOptions): Promise<KvDriver> {
  switch (spec.kind) {
    case 'cellkv-http':
      return new CellkvHttpDriver(spec, o);
    case 'cellkv-nats':
      return new CellkvNatsDriver(spec, o);
    case 'etcd':
      return new EtcdDriver(spec, o);
    case 'jetstream':
      return JetStreamDriver.open(spec, o);
  }
}
