// Package queue inspects and redrives SQS dead-letter queues, for the CLI and tests.
package queue

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// MaxBatch is the most entries one SendMessageBatch or DeleteMessageBatch call accepts.
const MaxBatch = 10

// errSameQueue is returned by Redrive when source and target are the same queue.
var errSameQueue = errors.New("redrive: source and target are the same queue")

var _ AdminAPI = (*sqs.Client)(nil)
