// Package export stores CSV files in ConfigMaps so they can be read with one
// kubectl command. A ConfigMap holds at most 1 MiB, so a file that does not
// fit is gzip-compressed into binaryData, and one that still does not fit is
// split into numbered shards whose concatenation is the gzip stream.
package export

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// Encodings of a stored file.
const (
	EncodingPlain = "plain"
	EncodingGzip  = "gzip"
)

// Labels that tie shards to their export, so stale shards can be found.
const (
	LabelExport = "entra.directory-operator.io/export"
	LabelShard  = "entra.directory-operator.io/shard"
)

// MaxPayload is how much file data one ConfigMap carries. The API server
// limits an object to ~1 MiB (etcd's request limit is 1.5 MiB, the
// ConfigMap validation 1 MiB of data); base64 in binaryData is counted
// decoded, and 64 KiB stay free for metadata.
var MaxPayload = 1<<20 - 64<<10

// Result says where a file went and how to read it back.
type Result struct {
	ConfigMaps []string
	Encoding   string
	Command    string
}

// CSV renders an RFC 4180 file: CRLF line ends, quotes where needed.
func CSV(header []string, rows [][]string) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	_ = w.Write(header)
	_ = w.WriteAll(rows) // writes to a bytes.Buffer cannot fail
	return buf.Bytes()
}

// Write stores file (named fileName, e.g. "users.csv") in ConfigMap name (and
// name-1, name-2, … when sharded), owned by owner, and deletes shards left
// over from a larger earlier export. Unchanged ConfigMaps are not rewritten.
func Write(ctx context.Context, c client.Client, scheme *runtime.Scheme, owner client.Object, name, fileName string, file []byte) (Result, error) {
	ns := owner.GetNamespace()
	var shards [][]byte
	res := Result{Encoding: EncodingPlain}
	if len(file) <= MaxPayload {
		shards = [][]byte{file}
	} else {
		gz, err := gzipBytes(file)
		if err != nil {
			return res, err
		}
		res.Encoding = EncodingGzip
		for len(gz) > 0 {
			n := min(len(gz), MaxPayload)
			shards = append(shards, gz[:n])
			gz = gz[n:]
		}
	}
	for i, part := range shards {
		cmName := shardName(name, i)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: cmName}}
		_, err := controllerutil.CreateOrUpdate(ctx, c, cm, func() error {
			if cm.Labels == nil {
				cm.Labels = map[string]string{}
			}
			cm.Labels[LabelExport] = name
			cm.Labels[LabelShard] = strconv.Itoa(i)
			if res.Encoding == EncodingPlain {
				cm.Data = map[string]string{fileName: string(part)}
				cm.BinaryData = nil
			} else {
				cm.Data = nil
				cm.BinaryData = map[string][]byte{fileName + ".gz": part}
			}
			return controllerutil.SetControllerReference(owner, cm, scheme)
		})
		if err != nil {
			return res, fmt.Errorf("writing ConfigMap %s: %w", cmName, err)
		}
		res.ConfigMaps = append(res.ConfigMaps, cmName)
	}
	if err := deleteStaleShards(ctx, c, ns, name, len(shards)); err != nil {
		return res, err
	}
	res.Command = Command(ns, res.ConfigMaps, res.Encoding, fileName)
	return res, nil
}

// Read returns the file stored by Write, or nil when there is none yet.
func Read(ctx context.Context, c client.Reader, ns, name, fileName string) ([]byte, error) {
	var list corev1.ConfigMapList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{LabelExport: name}); err != nil {
		return nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool {
		a, _ := strconv.Atoi(list.Items[i].Labels[LabelShard])
		b, _ := strconv.Atoi(list.Items[j].Labels[LabelShard])
		return a < b
	})
	var gz []byte
	for i, cm := range list.Items {
		if cm.Labels[LabelShard] != strconv.Itoa(i) {
			return nil, fmt.Errorf("export %s: shard %d missing", name, i)
		}
		// A plain file is always whole in shard 0; shards after it can only
		// be leftovers of an earlier gzip export whose cleanup was cut short.
		if v, ok := cm.Data[fileName]; ok && i == 0 {
			return []byte(v), nil
		}
		gz = append(gz, cm.BinaryData[fileName+".gz"]...)
	}
	if len(gz) == 0 {
		return nil, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", name, err)
	}
	// One export is one gzip member; bytes after it can only be a stale
	// shard that Write had not deleted yet, so they are ignored.
	zr.Multistream(false)
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", name, err)
	}
	return b, nil
}

// Command is the one kubectl command that prints the file.
func Command(ns string, configMaps []string, encoding, fileName string) string {
	key := strings.ReplaceAll(fileName, ".", `\.`)
	if encoding == EncodingPlain {
		return fmt.Sprintf("kubectl get configmap %s -n %s -o jsonpath='{.data.%s}'", configMaps[0], ns, key)
	}
	get := func(cm string) string {
		return fmt.Sprintf("kubectl get configmap %s -n %s -o jsonpath='{.binaryData.%s\\.gz}' | base64 -d", cm, ns, key)
	}
	if len(configMaps) == 1 {
		return get(configMaps[0]) + " | gunzip"
	}
	parts := make([]string, len(configMaps))
	for i, cm := range configMaps {
		parts[i] = get(cm)
	}
	return "{ " + strings.Join(parts, "; ") + "; } | gunzip"
}

func shardName(name string, i int) string {
	if i == 0 {
		return name
	}
	return fmt.Sprintf("%s-%d", name, i)
}

func deleteStaleShards(ctx context.Context, c client.Client, ns, name string, keep int) error {
	var list corev1.ConfigMapList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{LabelExport: name}); err != nil {
		return err
	}
	for i := range list.Items {
		n, err := strconv.Atoi(list.Items[i].Labels[LabelShard])
		if err == nil && n < keep {
			continue
		}
		if err := c.Delete(ctx, &list.Items[i]); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Delete removes an export's ConfigMaps (only those labelled as its shards,
// never a user's ConfigMap that happens to share the name).
func Delete(ctx context.Context, c client.Client, ns, name string) error {
	return deleteStaleShards(ctx, c, ns, name, 0)
}
