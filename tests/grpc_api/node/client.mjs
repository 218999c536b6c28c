// The seed's Node.js client (docs/GRPC.md): @grpc/grpc-js + @grpc/proto-loader loading the
// shipped gpuproxy.proto. Usage: node client.mjs PROTO TARGET EMAIL PASSWORD
// Prints one JSON object with what each call answered.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const [protoPath, target, email, password] = process.argv.slice(2);
const definition = protoLoader.loadSync(protoPath, {
  keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
});
const gpuproxy = grpc.loadPackageDefinition(definition).gpuproxy;
const client = new gpuproxy.GPUProxyService(target, grpc.credentials.createInsecure());

const call = (method, request, metadata = new grpc.Metadata()) =>
  new Promise((resolve) => {
    client[method](request, metadata, { deadline: Date.now() + 10000 }, (err, response) =>
      resolve(err ? { code: err.code, details: err.details } : { response }));
  });

const health = await call('HealthCheck', {});
const login = await call('Login', { email, password });
const metadata = new grpc.Metadata();
metadata.add('authorization', `Bearer ${login.response?.token}`);
const spending = await call('GetSpendingInfo', {}, metadata);
const anonymous = await call('GetSpendingInfo', {});
client.close();
console.log(JSON.stringify({
  health: health.response?.status,
  login_email: login.response?.email,
  windows: spending.response?.windows?.length,
  anonymous_code: anonymous.code,
}));
