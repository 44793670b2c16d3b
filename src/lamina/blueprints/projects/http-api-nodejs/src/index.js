// Answers GET /hello/{name} through an HTTP API (payload format 2.0).
exports.handler = async (event) => {
  const name = (event.pathParameters && event.pathParameters.name) || "world";
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message: `Hello, ${name}!`, route: event.routeKey }),
  };
};
