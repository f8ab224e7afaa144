import type { RunHub } from '@sluice/core';
import { describeRunHubConformance } from '@sluice/testing/run-hub-conformance';
import { HubDatabase, terminateOurConnections, type StoredRunHub } from './postgres-fixture.ts';

const databases: HubDatabase[] = [];

describeRunHubConformance({
  name: 'PostgresRunHub',
  async createHubs(count, { leaseMs }) {
    // Fresh tables per call: every scenario starts from an empty engine.
    const database = new HubDatabase();
    databases.push(database);
    return database.createInstances(count, { leaseMs });
  },
  publish(hub: RunHub, runId, event) {
    (hub as StoredRunHub).publishAndStore(runId, event);
  },
  async crash(hub: RunHub) {
    await (hub as StoredRunHub).crash();
  },
  async interruptEngine() {
    await terminateOurConnections();
  },
  async cleanup() {
    await Promise.all(databases.map((database) => database.drop()));
  },
});
