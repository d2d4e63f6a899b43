// What a third-party gRPC client with no proto files sees on one of our
// servers, through server reflection only (grpc-js-reflection-client on
// @grpc/grpc-js, as grpcurl would do it):
//
//   node probe.js HOST:PORT SERVICE METHOD
//
// lists the services; resolves grpc.health.v1.Health and calls Check ("" and
// SERVICE) and Watch (""; the first answer); resolves SERVICE and, one by one,
// each of its methods by symbol (grpcurl's `describe`); calls METHOD (unary)
// with an empty request through the resolved descriptor. Prints one JSON
// object; every step reports {"error": "..."} instead of stopping the rest.
// tests/compat/reflection_client_test.cc judges the result.
'use strict';

const grpc = require('@grpc/grpc-js');
const { GrpcReflection } = require('grpc-js-reflection-client');

const [address, serviceName, callMethod] = process.argv.slice(2);
if (!callMethod) {
  console.error('usage: node probe.js HOST:PORT SERVICE METHOD');
  process.exit(2);
}
const insecure = () => grpc.credentials.createInsecure();
const deadline = () => ({ deadline: Date.now() + 10000 });
const loaderOptions = { keepCase: true, enums: String, longs: String, defaults: true };
const reflection = new GrpcReflection(address, insecure());
const report = { address };

async function step(name, fn) {
  try {
    report[name] = await fn();
  } catch (e) {
    report[name] = { error: String((e && e.message) || e) };
  }
}

// The client constructor of a fully qualified service in a package object.
function clientOf(packageObject, fullName) {
  const ctor = fullName.split('.').reduce((o, k) => (o ? o[k] : undefined), packageObject);
  if (typeof ctor !== 'function') throw new Error(`${fullName} is not in the resolved descriptor`);
  return new ctor(address, insecure());
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, deadline(), (err, response) => (err ? reject(err) : resolve(response)));
  });
}

// The first message of a server stream, then the stream is cancelled.
function first(client, method, request) {
  return new Promise((resolve, reject) => {
    const call = client[method](request, deadline());
    let done = false;
    call.on('data', (m) => {
      if (done) return;
      done = true;
      resolve(m);
      call.cancel();
    });
    call.on('error', (e) => {
      if (!done) reject(e);
    });
    call.on('end', () => {
      if (!done) reject(new Error(`${method} ended without a message`));
    });
  });
}

// A method as the resolved descriptor tells it: types, streaming, request fields.
function describeMethod(method) {
  method.resolve();
  return {
    requestType: method.resolvedRequestType.fullName.replace(/^\./, ''),
    responseType: method.resolvedResponseType.fullName.replace(/^\./, ''),
    requestStream: Boolean(method.requestStream),
    responseStream: Boolean(method.responseStream),
    requestFields: method.resolvedRequestType.fieldsArray.map((f) => f.name),
  };
}

async function main() {
  await step('services', () => reflection.listServices());

  await step('health', async () => {
    const descriptor = await reflection.getDescriptorBySymbol('grpc.health.v1.Health');
    const health = clientOf(descriptor.getPackageObject(loaderOptions), 'grpc.health.v1.Health');
    const out = { check: {}, watch: null };
    for (const service of ['', serviceName]) {
      out.check[service] = (await unary(health, 'Check', { service })).status;
    }
    out.watch = (await first(health, 'Watch', { service: '' })).status;
    health.close();
    return out;
  });

  await step('describe', async () => {
    const descriptor = await reflection.getDescriptorBySymbol(serviceName);
    const service = descriptor.getProtobufJsRoot().lookupService(serviceName);
    const methods = {};
    for (const m of service.methodsArray) methods[m.name] = describeMethod(m);
    return methods;
  });

  await step('describeBySymbol', async () => {
    const descriptor = await reflection.getDescriptorBySymbol(serviceName);
    const names = descriptor.getProtobufJsRoot().lookupService(serviceName).methodsArray.map((m) => m.name);
    const methods = {};
    for (const name of names) {
      const symbol = `${serviceName}.${name}`;
      const root = (await reflection.getDescriptorBySymbol(symbol)).getProtobufJsRoot();
      methods[name] = describeMethod(root.lookupService(serviceName).methods[name]);
    }
    return methods;
  });

  await step('call', async () => {
    const descriptor = await reflection.getDescriptorBySymbol(serviceName);
    const client = clientOf(descriptor.getPackageObject(loaderOptions), serviceName);
    const response = await unary(client, callMethod, {});
    client.close();
    return { method: callMethod, fields: Object.keys(response).sort() };
  });

  process.stdout.write(JSON.stringify(report) + '\n');
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
