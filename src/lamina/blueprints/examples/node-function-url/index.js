// Behind a function URL: GET <url>?name=Ada answers {"code": 0, "data": "Hello, Ada"}.
exports.handler = async (event) => {
  const name = (event.queryStringParameters && event.queryStringParameters.name) || "World";
  return {
    statusCode: 200,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code: 0, data: "Hello, " + name }),
  };
};
