// Package logging builds the manager's logger. Every log line, whoever
// writes it (the controllers, controller-runtime, client-go's request and
// response dumps at high verbosity, the Graph client's debug dumps, the
// Azure SDK), goes through one redacting zap core, so no Secret's data, no
// password, client secret, client assertion, private key or token reaches a
// log at any verbosity.
package logging

import (
	"encoding/json"
	"fmt"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/directory-operator/directory-operator/internal/redact"
)

// bodyKeys are the fields holding whole request or response bodies:
// client-go's "Request Body"/"Response Body" dumps (V(8) and up) and the
// Graph client's debug dumps.
var bodyKeys = map[string]bool{"body": true, "requestBody": true, "responseBody": true}

// redactingCore scrubs every entry before the wrapped core encodes it.
type redactingCore struct{ zapcore.Core }

// NewCore wraps c so that nothing secret is written through it; use with
// zap.WrapCore.
func NewCore(c zapcore.Core) zapcore.Core { return &redactingCore{c} }

func (c *redactingCore) With(fields []zapcore.Field) zapcore.Core {
	return &redactingCore{c.Core.With(redactFields(fields))}
}

func (c *redactingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *redactingCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	e.Message = redact.String(e.Message)
	return c.Core.Write(e, redactFields(fields))
}

func redactFields(fields []zapcore.Field) []zapcore.Field {
	out := make([]zapcore.Field, len(fields))
	for i, f := range fields {
		out[i] = redactField(f)
	}
	return out
}

func redactField(f zapcore.Field) zapcore.Field {
	if redact.IsSensitiveKey(f.Key) && f.Type != zapcore.BoolType {
		return zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: redact.Redacted}
	}
	switch f.Type {
	case zapcore.StringType:
		if bodyKeys[f.Key] {
			f.String = redact.Body([]byte(f.String))
		} else {
			f.String = redact.String(f.String)
		}
	case zapcore.ByteStringType, zapcore.BinaryType:
		b, _ := f.Interface.([]byte)
		return zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: redact.Body(b)}
	case zapcore.ErrorType:
		if err, ok := f.Interface.(error); ok && err != nil {
			return zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: redact.String(err.Error())}
		}
	case zapcore.StringerType:
		if ref, ok := objectRef(f.Interface); ok {
			return zapcore.Field{Key: f.Key, Type: zapcore.ReflectType, Interface: ref}
		}
		if s, ok := f.Interface.(fmt.Stringer); ok {
			return zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: redact.String(safeString(s))}
		}
	case zapcore.ReflectType:
		if ref, ok := objectRef(f.Interface); ok {
			return zapcore.Field{Key: f.Key, Type: zapcore.ReflectType, Interface: ref}
		}
		return zapcore.Field{Key: f.Key, Type: zapcore.ReflectType, Interface: redactReflected(f.Interface)}
	}
	return f
}

// objectRef logs a Kubernetes object as what identifies it, as
// controller-runtime's encoder does outside development mode: in
// development mode (--zap-devel) it would print the whole object, a
// Secret's data included.
func objectRef(v any) (map[string]string, bool) {
	obj, ok := v.(runtime.Object)
	if !ok {
		return nil, false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, false
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	ref := map[string]string{"name": m.GetName()}
	if ns := m.GetNamespace(); ns != "" {
		ref["namespace"] = ns
	}
	if gvk.Kind != "" {
		ref["kind"], ref["apiVersion"] = gvk.Kind, gvk.GroupVersion().String()
	}
	return ref, true
}

// redactReflected round-trips a value through JSON so its sensitive keys
// (a whole Secret, a map of headers) can be found and replaced.
func redactReflected(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return redact.String(fmt.Sprintf("%+v", v))
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return redact.Redacted
	}
	return redact.Value(out)
}

func safeString(s fmt.Stringer) (out string) {
	defer func() {
		if recover() != nil {
			out = "<String() panicked>"
		}
	}()
	return s.String()
}
