// On an S3 event, reads the object's content type (the AWS SDK for JavaScript v3, which the
// runtime provides) and returns it.
const { S3Client, HeadObjectCommand } = require("@aws-sdk/client-s3");

const s3 = new S3Client({});

exports.handler = async (event) => {
  const record = event.Records[0].s3;
  const key = decodeURIComponent(record.object.key.replace(/\+/g, " "));
  const head = await s3.send(new HeadObjectCommand({ Bucket: record.bucket.name, Key: key }));
  console.log("CONTENT TYPE:", head.ContentType);
  return head.ContentType;
};
