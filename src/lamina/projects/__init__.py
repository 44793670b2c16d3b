"""A project on a user's disk (a SAM template.yaml and its code folders) built, deployed to a
running server as a CloudFormation stack, invoked and watched: what `lamina deploy`, `lamina
invoke` and `lamina dev` do. Client-side: everything goes through the server's public APIs."""
