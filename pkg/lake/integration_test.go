package lake_test

import (
	"context"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orderflow/orderflow/pkg/lake"
	"github.com/orderflow/orderflow/tools/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

func TestWriteIntegration(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	c := env.S3()
	bucket := env.CreateBucket(t, env.Name(t, "lake"), nil)

	w := lake.NewWriter(c, bucket)
	day := time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)
	writes := []struct {
		name  string
		day   time.Time
		batch string
		rows  [][]byte
	}{
		{"first batch", day, "shardId-000000000000-1", [][]byte{[]byte(`{"orderId":"o-1"}`), []byte(`{"orderId":"o-2"}`)}},
		// A retry of the first batch with the same id overwrites it.
		{"retried batch", day, "shardId-000000000000-1", [][]byte{[]byte(`{"orderId":"o-1"}`), []byte(`{"orderId":"o-2"}`)}},
		{"second batch", day, "shardId-000000000001-7", [][]byte{[]byte(`{"orderId":"o-3"}`)}},
		{"next day", day.Add(24 * time.Hour), "shardId-000000000000-9", [][]byte{[]byte(`{"orderId":"o-4"}`)}},
	}
	bodies := map[string]string{
		"raw/dt=2026-03-07/shardId-000000000000-1.json": "{\"orderId\":\"o-1\"}\n{\"orderId\":\"o-2\"}\n",
		"raw/dt=2026-03-07/shardId-000000000001-7.json": "{\"orderId\":\"o-3\"}\n",
		"raw/dt=2026-03-08/shardId-000000000000-9.json": "{\"orderId\":\"o-4\"}\n",
	}
	for _, wr := range writes {
		t.Run(wr.name, func(t *testing.T) {
			key, err := w.Write(ctx, wr.day, wr.batch, wr.rows)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			want, ok := bodies[key]
			if !ok {
				t.Fatalf("key %q not in the expected layout", key)
			}
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("get %s: %v", key, err)
			}
			defer obj.Body.Close()
			got, _ := io.ReadAll(obj.Body)
			if string(got) != want || aws.ToString(obj.ContentType) != lake.ContentType {
				t.Errorf("object %s = %q (%s), want %q (%s)", key, got, aws.ToString(obj.ContentType), want, lake.ContentType)
			}
		})
	}

	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("raw/dt=2026-03-07/")})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	want := []string{"raw/dt=2026-03-07/shardId-000000000000-1.json", "raw/dt=2026-03-07/shardId-000000000001-7.json"}
	if !slices.Equal(keys, want) {
		t.Errorf("objects under raw/dt=2026-03-07/ = %v, want %v", keys, want)
	}
}
