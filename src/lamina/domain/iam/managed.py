"""AWS managed policies Lamina provides, with AWS's names and ARNs and equivalent permissions."""

from __future__ import annotations

import json

from lamina.domain.iam.entities import ManagedPolicy

_BASIC_EXECUTION = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
}
_LAMBDA_FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["lambda:*", "logs:*", "cloudwatch:*", "iam:GetRole", "iam:ListRoles", "iam:PassRole"],
            "Resource": "*",
        }
    ],
}
_LAMBDA_READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["lambda:Get*", "lambda:List*"], "Resource": "*"}],
}

_S3_FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "s3-object-lambda:*"], "Resource": "*"}],
}
_S3_READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "s3:Get*",
                "s3:List*",
                "s3:Describe*",
                "s3-object-lambda:Get*",
                "s3-object-lambda:List*",
            ],
            "Resource": "*",
        }
    ],
}

_SQS_FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sqs:*"], "Resource": "*"}],
}
_SQS_QUEUE_EXECUTION = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        },
    ],
}

AWS_MANAGED_POLICIES = (
    ManagedPolicy(
        "aws",
        "AWSLambdaBasicExecutionRole",
        "ANPAJNCQGXC42545SKXIK",
        json.dumps(_BASIC_EXECUTION),
        "/service-role/",
        "Provides write permissions to CloudWatch Logs.",
        0.0,
    ),
    ManagedPolicy(
        "aws",
        "AWSLambda_FullAccess",
        "ANPAZKAPJZG4KQIBT3RKA",
        json.dumps(_LAMBDA_FULL_ACCESS),
        "/",
        "Grants full access to AWS Lambda service and related resources.",
        0.0,
    ),
    ManagedPolicy(
        "aws",
        "AWSLambda_ReadOnlyAccess",
        "ANPAZKAPJZG4JXGLPNNIF",
        json.dumps(_LAMBDA_READ_ONLY),
        "/",
        "Grants read-only access to AWS Lambda service.",
        0.0,
    ),
    ManagedPolicy(
        "aws",
        "AmazonS3FullAccess",
        "ANPAIFIR6V6BVTRAHWINE",
        json.dumps(_S3_FULL_ACCESS),
        "/",
        "Provides full access to all buckets via the AWS Management Console.",
        0.0,
    ),
    ManagedPolicy(
        "aws",
        "AmazonS3ReadOnlyAccess",
        "ANPAIZTJ4DXE7G6AGAE6M",
        json.dumps(_S3_READ_ONLY),
        "/",
        "Provides read only access to all buckets via the AWS Management Console.",
        0.0,
    ),
    ManagedPolicy(
        "aws",
        "AmazonSQSFullAccess",
        "ANPAI65L554VRJ33ECQS6",
        json.dumps(_SQS_FULL_ACCESS),
        "/",
        "Provides full access to Amazon SQS via the AWS Management Console.",
        0.0,
    ),
    ManagedPolicy(
        "aws",
        "AWSLambdaSQSQueueExecutionRole",
        "ANPAJFWJZI6JNND4TSELK",
        json.dumps(_SQS_QUEUE_EXECUTION),
        "/service-role/",
        "Provides receive message, delete message, and read attribute access to SQS queues, and write "
        "permissions to CloudWatch logs.",
        0.0,
    ),
)
