"""CloudFormation: templates (JSON and YAML), their intrinsic functions, the plan of a stack
operation, and its execution through resource providers that call Lamina's own APIs."""
