"""S3's errors, with the codes, statuses, messages and extra fields S3 sends (Amazon S3 API
Reference, "Error responses": the list of error codes)."""

from __future__ import annotations

from lamina.errors import AwsError


def no_such_bucket(bucket: str) -> AwsError:
    return AwsError("NoSuchBucket", "The specified bucket does not exist", 404, extra={"BucketName": bucket})


def no_such_key(key: str) -> AwsError:
    return AwsError("NoSuchKey", "The specified key does not exist.", 404, extra={"Key": key})


def no_such_upload(upload_id: str) -> AwsError:
    return AwsError(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have "
        "been aborted or completed.",
        404,
        extra={"UploadId": upload_id},
    )


def bucket_already_exists(bucket: str) -> AwsError:
    return AwsError(
        "BucketAlreadyExists",
        "The requested bucket name is not available. The bucket namespace is shared by all users of "
        "the system. Please select a different name and try again.",
        409,
        extra={"BucketName": bucket},
    )


def bucket_already_owned(bucket: str) -> AwsError:
    return AwsError(
        "BucketAlreadyOwnedByYou",
        "Your previous request to create the named bucket succeeded and you already own it.",
        409,
        extra={"BucketName": bucket},
    )


def bucket_not_empty(bucket: str) -> AwsError:
    return AwsError(
        "BucketNotEmpty", "The bucket you tried to delete is not empty", 409, extra={"BucketName": bucket}
    )


def invalid_bucket_name(bucket: str) -> AwsError:
    return AwsError(
        "InvalidBucketName", "The specified bucket is not valid.", 400, extra={"BucketName": bucket}
    )


def invalid_argument(message: str, name: str | None = None, value: str | None = None) -> AwsError:
    extra = {"ArgumentName": name, "ArgumentValue": value} if name is not None else {}
    return AwsError("InvalidArgument", message, 400, extra=extra)


def access_denied() -> AwsError:
    return AwsError("AccessDenied", "Access Denied", 403)


def precondition_failed(condition: str) -> AwsError:
    return AwsError(
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        412,
        extra={"Condition": condition},
    )


def invalid_range(size: int, requested: str) -> AwsError:
    return AwsError(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        extra={"RangeRequested": requested, "ActualObjectSize": size},
        headers={"Content-Range": f"bytes */{size}"},
    )


def entity_too_large(size: int, limit: int) -> AwsError:
    return AwsError(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        400,
        extra={"ProposedSize": size, "MaxSizeAllowed": limit},
    )


def entity_too_small() -> AwsError:
    return AwsError(
        "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.", 400
    )


def missing_content_length() -> AwsError:
    return AwsError("MissingContentLength", "You must provide the Content-Length HTTP header.", 411)


def incomplete_body() -> AwsError:
    return AwsError("IncompleteBody", "The request body terminated unexpectedly", 400)


def bad_digest(header: str) -> AwsError:
    if header == "Content-MD5":
        return AwsError("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
    return AwsError("BadDigest", f"The {header} you specified did not match the calculated checksum.", 400)


def invalid_digest() -> AwsError:
    return AwsError("InvalidDigest", "The Content-MD5 you specified is not valid.", 400)


def key_too_long(key: str) -> AwsError:
    return AwsError(
        "KeyTooLongError",
        "Your key is too long",
        400,
        extra={"Size": len(key.encode()), "MaxSizeAllowed": 1024},
    )


def invalid_part(part: int, etag: str) -> AwsError:
    return AwsError(
        "InvalidPart",
        "One or more of the specified parts could not be found.  The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag.",
        400,
        extra={"PartNumber": part, "ETag": etag},
    )


def invalid_part_order() -> AwsError:
    return AwsError(
        "InvalidPartOrder",
        "The list of parts was not in ascending order. Parts must be ordered by part number.",
        400,
    )


def malformed_policy(message: str) -> AwsError:
    return AwsError("MalformedPolicy", message, 400)


def no_such_bucket_policy(bucket: str) -> AwsError:
    return AwsError(
        "NoSuchBucketPolicy", "The bucket policy does not exist", 404, extra={"BucketName": bucket}
    )


def no_such_tag_set() -> AwsError:
    return AwsError("NoSuchTagSet", "The TagSet does not exist", 404)


def wrong_region(region: str, expected: str) -> AwsError:
    """A request signed for another region than the bucket's: botocore reads `Region` and sends the
    request again, signed for it (S3RegionRedirector)."""
    return AwsError(
        "AuthorizationHeaderMalformed",
        f"The authorization header is malformed; the region '{region}' is wrong; expecting '{expected}'",
        400,
        extra={"Region": expected},
        headers={"x-amz-bucket-region": expected},
    )


def malformed_xml() -> AwsError:
    return AwsError(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
        400,
    )
