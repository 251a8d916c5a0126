import { startFauxqs } from 'fauxqs';

const s = await startFauxqs({ port: 4599, logger: false, host: '127.0.0.1' });
console.log('up', s.port);
