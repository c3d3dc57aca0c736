package lake_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orderflow/orderflow/pkg/lake"
)

type fakeS3 struct {
	put func(in *s3.PutObjectInput, body []byte) (*s3.PutObjectOutput, error)
}

func (f fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	return f.put(in, b)
}

func TestWrite(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	cases := []struct {
		name     string
		day      time.Time
		batchID  string
		rows     [][]byte
		wantKey  string
		wantBody string
	}{
		{"key layout and ndjson", time.Date(2026, 3, 7, 23, 59, 0, 0, time.UTC), "shardId-000000000001-4955",
			[][]byte{[]byte(`{"a":1}`), []byte(`{"b":"x"}`)},
			"raw/dt=2026-03-07/shardId-000000000001-4955.json", "{\"a\":1}\n{\"b\":\"x\"}\n"},
		{"day in UTC", time.Date(2026, 3, 7, 20, 0, 0, 0, est), "b1",
			[][]byte{[]byte(`{"a":1}`)}, "raw/dt=2026-03-08/b1.json", "{\"a\":1}\n"},
		{"pretty rows become one line each", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "b2",
			[][]byte{[]byte("{\n  \"a\": 1,\n  \"s\": \"two\\nlines\"\n}"), []byte(` [1, 2] `)},
			"raw/dt=2026-01-02/b2.json", "{\"a\":1,\"s\":\"two\\nlines\"}\n[1,2]\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gotIn *s3.PutObjectInput
			var gotBody []byte
			w := lake.NewWriter(fakeS3{put: func(in *s3.PutObjectInput, b []byte) (*s3.PutObjectOutput, error) {
				gotIn, gotBody = in, b
				return &s3.PutObjectOutput{}, nil
			}}, "lake-bucket")
			key, err := w.Write(context.Background(), tc.day, tc.batchID, tc.rows)
			if err != nil {
				t.Fatal(err)
			}
			if key != tc.wantKey || aws.ToString(gotIn.Key) != tc.wantKey {
				t.Errorf("key = %q (put %q), want %q", key, aws.ToString(gotIn.Key), tc.wantKey)
			}
			if string(gotBody) != tc.wantBody {
				t.Errorf("body = %q, want %q", gotBody, tc.wantBody)
			}
			if aws.ToString(gotIn.Bucket) != "lake-bucket" || aws.ToString(gotIn.ContentType) != lake.ContentType {
				t.Errorf("bucket %q content type %q", aws.ToString(gotIn.Bucket), aws.ToString(gotIn.ContentType))
			}
			if aws.ToInt64(gotIn.ContentLength) != int64(len(tc.wantBody)) {
				t.Errorf("content length = %d, want %d", aws.ToInt64(gotIn.ContentLength), len(tc.wantBody))
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	boom := errors.New("boom")
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		batchID string
		rows    [][]byte
		wantIs  error
		wantPut bool
	}{
		{"empty batch id", "", [][]byte{[]byte(`{}`)}, lake.ErrBadBatchID, false},
		{"slash in batch id", "a/b", [][]byte{[]byte(`{}`)}, lake.ErrBadBatchID, false},
		{"dot dot", "..", [][]byte{[]byte(`{}`)}, lake.ErrBadBatchID, false},
		{"invalid json row", "b", [][]byte{[]byte(`{}`), []byte(`{oops`)}, nil, false},
		{"s3 error", "b", [][]byte{[]byte(`{}`)}, boom, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			put := false
			w := lake.NewWriter(fakeS3{put: func(*s3.PutObjectInput, []byte) (*s3.PutObjectOutput, error) {
				put = true
				return nil, boom
			}}, "bkt")
			key, err := w.Write(context.Background(), day, tc.batchID, tc.rows)
			if err == nil || key != "" {
				t.Fatalf("Write = %q, %v; want an error", key, err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("err = %v, want %v", err, tc.wantIs)
			}
			if put != tc.wantPut {
				t.Errorf("PutObject called = %v, want %v", put, tc.wantPut)
			}
		})
	}
}

func TestWriteNoRowsWritesNothing(t *testing.T) {
	w := lake.NewWriter(fakeS3{put: func(*s3.PutObjectInput, []byte) (*s3.PutObjectOutput, error) {
		t.Error("PutObject called for an empty batch")
		return &s3.PutObjectOutput{}, nil
	}}, "bkt")
	if key, err := w.Write(context.Background(), time.Now(), "b", nil); key != "" || err != nil {
		t.Fatalf("Write = %q, %v; want \"\", nil", key, err)
	}
}
