"""Resource providers: one per CloudFormation resource type, each creating, updating and deleting
its resource through Lamina's own APIs (`base.Calls`), as the caller that runs the stack."""
