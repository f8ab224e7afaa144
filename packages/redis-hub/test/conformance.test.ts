import { describeRunHubConformance } from '@sluice/testing/run-hub-conformance';
import type { RedisRunHub } from '@sluice/redis-hub';
import { HubFactory, restartRedis } from './redis-test-server.ts';

const factory = new HubFactory();

describeRunHubConformance({
  name: 'RedisRunHub',
  createHubs(count, { leaseMs }) {
    return Promise.resolve(factory.create(count, { leaseMs }));
  },
  async crash(hub) {
    await (hub as RedisRunHub).crash();
  },
  interruptEngine: restartRedis,
  cleanup: () => factory.cleanup(),
});
