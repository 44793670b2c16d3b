const responses = require("../responses");

exports.handle = async () => responses.ok({ healthy: true });
