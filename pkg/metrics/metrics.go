// Package metrics writes CloudWatch Embedded Metric Format (EMF) records: one JSON object
// per line that CloudWatch Logs turns into metrics without a PutMetricData call.
//
// Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
//
// No maintained Go library exists, and this runs on every order, so the encoder is our
// own: it appends into a reused buffer and allocates nothing in the steady state for
// string and numeric properties.
package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Unit is a CloudWatch metric unit.
type Unit string

// The units CloudWatch accepts.
const (
	Seconds            Unit = "Seconds"
	Microseconds       Unit = "Microseconds"
	Milliseconds       Unit = "Milliseconds"
	Bytes              Unit = "Bytes"
	Kilobytes          Unit = "Kilobytes"
	Megabytes          Unit = "Megabytes"
	Gigabytes          Unit = "Gigabytes"
	Terabytes          Unit = "Terabytes"
	Bits               Unit = "Bits"
	Kilobits           Unit = "Kilobits"
	Megabits           Unit = "Megabits"
	Gigabits           Unit = "Gigabits"
	Terabits           Unit = "Terabits"
	Percent            Unit = "Percent"
	Count              Unit = "Count"
	BytesPerSecond     Unit = "Bytes/Second"
	KilobytesPerSecond Unit = "Kilobytes/Second"
	MegabytesPerSecond Unit = "Megabytes/Second"
	GigabytesPerSecond Unit = "Gigabytes/Second"
	TerabytesPerSecond Unit = "Terabytes/Second"
	BitsPerSecond      Unit = "Bits/Second"
	KilobitsPerSecond  Unit = "Kilobits/Second"
	MegabitsPerSecond  Unit = "Megabits/Second"
	GigabitsPerSecond  Unit = "Gigabits/Second"
	TerabitsPerSecond  Unit = "Terabits/Second"
	CountPerSecond     Unit = "Count/Second"
	None               Unit = "None"
)

// Limits of one EMF object, from the specification.
const (
	MaxDimensions = 30  // keys in one DimensionSet
	MaxMetrics    = 100 // metric definitions in one MetricDirective
	MaxValues     = 100 // values in one metric's array
)

// DefaultNamespace is the CloudWatch namespace orderflow publishes its business metrics in.
const DefaultNamespace = "orderflow"

// DefaultService is the service dimension when neither POWERTOOLS_SERVICE_NAME nor
// SERVICE_NAME is set.
const DefaultService = "orderflow"

// ServiceName returns the value for the "service" dimension: POWERTOOLS_SERVICE_NAME,
// else SERVICE_NAME, else DefaultService.
func ServiceName() string {
	for _, k := range []string{"POWERTOOLS_SERVICE_NAME", "SERVICE_NAME"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return DefaultService
}

// Errors reported by Flush. Each is wrapped with the offending name.
var (
	// ErrInvalidConfig: empty namespace, an empty dimension key or value, or more than
	// MaxDimensions dimensions. Nothing is written: every record would be rejected.
	ErrInvalidConfig = errors.New("metrics: invalid recorder configuration")
	// ErrInvalidValue: an empty metric name or a NaN/Inf value (not representable in
	// JSON). The value was dropped.
	ErrInvalidValue = errors.New("metrics: invalid metric")
	// ErrUnitMismatch: a metric was put again with another unit. The value was dropped.
	ErrUnitMismatch = errors.New("metrics: unit differs from the metric's first unit")
	// ErrNameClash: a metric or property would overwrite a dimension, a metric or "_aws"
	// at the top level of the record. The metric or property was dropped.
	ErrNameClash = errors.New("metrics: name already used in the record")
)

type metric struct {
	name   string
	unit   Unit
	values []float64
}

type property struct {
	key   string
	value any
}

// Recorder collects metrics and properties and writes them as EMF records on Flush.
// It is safe for concurrent use. After Flush it is empty again (dimensions are kept),
// so one Recorder can live for the whole life of a Lambda execution environment.
type Recorder struct {
	mu        sync.Mutex
	w         io.Writer
	namespace string
	dimKeys   []string
	dimValues []string
	cfgErr    error

	metrics []metric
	props   []property
	ts      time.Time
	errs    []error
	buf     []byte
	now     func() time.Time
}

// New returns a Recorder that writes to w (in Lambda: os.Stdout) under namespace, with
// one DimensionSet made of dims. Invalid configuration is reported by every Flush as
// ErrInvalidConfig.
func New(w io.Writer, namespace string, dims map[string]string) *Recorder {
	r := &Recorder{w: w, namespace: namespace, now: time.Now, buf: make([]byte, 0, 512)}
	r.dimKeys = make([]string, 0, len(dims))
	for k := range dims {
		r.dimKeys = append(r.dimKeys, k)
	}
	slices.Sort(r.dimKeys) // deterministic output
	r.dimValues = make([]string, len(r.dimKeys))
	for i, k := range r.dimKeys {
		r.dimValues[i] = dims[k]
	}
	var errs []error
	if namespace == "" || len(namespace) > 255 {
		errs = append(errs, fmt.Errorf("%w: namespace %q must be 1 to 255 characters", ErrInvalidConfig, namespace))
	}
	if len(dims) > MaxDimensions {
		errs = append(errs, fmt.Errorf("%w: %d dimensions, at most %d", ErrInvalidConfig, len(dims), MaxDimensions))
	}
	for i, k := range r.dimKeys {
		if k == "" || r.dimValues[i] == "" || k == "_aws" {
			errs = append(errs, fmt.Errorf("%w: dimension %q=%q", ErrInvalidConfig, k, r.dimValues[i]))
		}
	}
	r.cfgErr = errors.Join(errs...)
	return r
}

// SetTimestamp sets the timestamp of the records the next Flush writes (for example the
// business event's time). Without it Flush uses the current time.
func (r *Recorder) SetTimestamp(t time.Time) {
	r.mu.Lock()
	r.ts = t
	r.mu.Unlock()
}

// Put adds value to the metric name. Putting the same name again adds to its array of
// values (CloudWatch aggregates them). Problems are reported by the next Flush: see
// ErrInvalidValue, ErrUnitMismatch and ErrNameClash.
func (r *Recorder) Put(name string, value float64, unit Unit) {
	if unit == "" {
		unit = None
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" || math.IsNaN(value) || math.IsInf(value, 0) {
		r.errs = append(r.errs, fmt.Errorf("%w: %q=%v", ErrInvalidValue, name, value))
		return
	}
	for i := range r.metrics {
		m := &r.metrics[i]
		if m.name != name {
			continue
		}
		if m.unit != unit {
			r.errs = append(r.errs, fmt.Errorf("%w: %q is %s, got %s", ErrUnitMismatch, name, m.unit, unit))
			return
		}
		m.values = append(m.values, value)
		return
	}
	if r.topLevelTaken(name) {
		r.errs = append(r.errs, fmt.Errorf("%w: metric %q", ErrNameClash, name))
		return
	}
	// Reuse the slot (and its values' capacity) a previous Flush left behind.
	n := len(r.metrics)
	if n < cap(r.metrics) {
		r.metrics = r.metrics[:n+1]
	} else {
		r.metrics = append(r.metrics, metric{})
	}
	m := &r.metrics[n]
	m.name, m.unit = name, unit
	m.values = append(m.values[:0], value)
}

// Property adds a top-level member that is not a metric, such as orderId or
// correlationId: it is searchable in CloudWatch Logs Insights but creates no metric.
// Setting a key again replaces its value. A key equal to a dimension, a metric or "_aws"
// is dropped and reported by the next Flush as ErrNameClash; likewise a metric named
// like an existing property. The first user of a name keeps it.
func (r *Recorder) Property(key string, value any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.props {
		if r.props[i].key == key {
			r.props[i].value = value
			return
		}
	}
	if key == "" || r.topLevelTaken(key) {
		r.errs = append(r.errs, fmt.Errorf("%w: property %q", ErrNameClash, key))
		return
	}
	r.props = append(r.props, property{key: key, value: value})
}

// topLevelTaken reports whether name is already a member of the record.
func (r *Recorder) topLevelTaken(name string) bool {
	if name == "_aws" {
		return true
	}
	for _, k := range r.dimKeys {
		if k == name {
			return true
		}
	}
	for i := range r.metrics {
		if r.metrics[i].name == name {
			return true
		}
	}
	for i := range r.props {
		if r.props[i].key == name {
			return true
		}
	}
	return false
}

// Flush writes the collected metrics as EMF records, one JSON object per line and per
// Write call, and empties the Recorder. A record holds at most MaxMetrics metrics and
// MaxValues values per metric; more are split over several records, each carrying the
// dimensions and properties. With no metrics nothing is written.
//
// It returns the problems recorded since the last Flush (ErrInvalidValue,
// ErrUnitMismatch, ErrNameClash), ErrInvalidConfig, or the writer's error.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.reset()

	errs := r.errs
	if r.cfgErr != nil {
		return errors.Join(append([]error{r.cfgErr}, errs...)...)
	}
	if len(r.metrics) == 0 {
		return errors.Join(errs...)
	}
	ts := r.ts
	if ts.IsZero() {
		ts = r.now()
	}
	ms := ts.UnixMilli()

	for round := 0; ; round++ {
		lo := round * MaxValues
		wrote := false
		// Metrics with values left for this round, in chunks of MaxMetrics.
		start := 0
		for start < len(r.metrics) {
			b := r.buf[:0]
			b = r.appendHeader(b, ms)
			count := 0
			first, i := start, start
			for ; i < len(r.metrics) && count < MaxMetrics; i++ {
				if len(r.metrics[i].values) <= lo {
					continue
				}
				if count > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"Name":`...)
				b = appendString(b, r.metrics[i].name)
				b = append(b, `,"Unit":`...)
				b = appendString(b, string(r.metrics[i].unit))
				b = append(b, '}')
				count++
			}
			end := i
			start = end
			if count == 0 {
				break
			}
			wrote = true
			b = append(b, "]}]}"...)
			for j, k := range r.dimKeys {
				b = append(b, ',')
				b = appendString(b, k)
				b = append(b, ':')
				b = appendString(b, r.dimValues[j])
			}
			for j := first; j < end; j++ {
				m := &r.metrics[j]
				if len(m.values) <= lo {
					continue
				}
				vals := m.values[lo:min(lo+MaxValues, len(m.values))]
				b = append(b, ',')
				b = appendString(b, m.name)
				b = append(b, ':')
				if len(vals) == 1 {
					b = strconv.AppendFloat(b, vals[0], 'g', -1, 64)
					continue
				}
				b = append(b, '[')
				for v, x := range vals {
					if v > 0 {
						b = append(b, ',')
					}
					b = strconv.AppendFloat(b, x, 'g', -1, 64)
				}
				b = append(b, ']')
			}
			for _, p := range r.props {
				var err error
				mark := len(b)
				b = append(b, ',')
				b = appendString(b, p.key)
				b = append(b, ':')
				if b, err = appendValue(b, p.value); err != nil {
					b = b[:mark]
					errs = append(errs, fmt.Errorf("metrics: property %q: %w", p.key, err))
				}
			}
			b = append(b, '}', '\n')
			r.buf = b
			if _, err := r.w.Write(b); err != nil {
				errs = append(errs, fmt.Errorf("metrics: write: %w", err))
				return errors.Join(errs...)
			}
		}
		if !wrote {
			break
		}
	}
	return errors.Join(errs...)
}

// appendHeader appends everything up to and including the opening of the Metrics array.
func (r *Recorder) appendHeader(b []byte, ms int64) []byte {
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":`...)
	b = appendString(b, r.namespace)
	b = append(b, `,"Dimensions":[[`...)
	for i, k := range r.dimKeys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
	}
	return append(b, `]],"Metrics":[`...)
}

func (r *Recorder) reset() {
	r.metrics = r.metrics[:0]
	clear(r.props) // drop references to property values
	r.props = r.props[:0]
	r.errs = nil
	r.ts = time.Time{}
	if cap(r.buf) > 64<<10 {
		r.buf = make([]byte, 0, 512) // do not pin one huge record's buffer
	}
}

// appendValue appends v as JSON, without allocating for the common scalar types.
func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return b, fmt.Errorf("%w: %v", ErrInvalidValue, x)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, raw...), nil
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as in
// encoding/json.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
