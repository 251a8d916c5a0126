"""A command handler that writes to the data bucket with boto3, configured only by the AWS_*
variables and the job's `bucket`: proves the worker hands its endpoint and credentials down."""

import json
import sys

import boto3
from botocore.config import Config

job = json.load(sys.stdin)
s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
key = f"outputs/{job['batch']}/{job['id']}.txt"
s3.put_object(Bucket=job["bucket"], Key=key, Body=job["payload"]["text"].upper().encode())
json.dump({"key": key}, sys.stdout)
