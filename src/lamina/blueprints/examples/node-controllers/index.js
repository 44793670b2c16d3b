// Routes {"action": "..."} to a controller in controllers/; unknown actions get a 404.
const responses = require("./responses");
const controllers = {
  users: require("./controllers/users"),
  health: require("./controllers/health"),
};

exports.handler = async (event) => {
  const controller = controllers[event.action];
  if (!controller) return responses.notFound(`no action ${event.action}`);
  return controller.handle(event);
};
