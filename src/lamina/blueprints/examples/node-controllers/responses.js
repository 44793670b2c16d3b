// The response shapes every controller answers with.
exports.ok = (data) => ({ statusCode: 200, body: data });
exports.notFound = (message) => ({ statusCode: 404, body: { message } });
exports.badRequest = (message) => ({ statusCode: 400, body: { message } });
