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
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

// Encodings of a stored file.
const (
	EncodingPlain = "plain"
	EncodingGzip  = "gzip"
)

// Labels that tie shards to their export, so stale shards can be found.
const (
	LabelExport = v1alpha1.LabelExport
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
//
// Write never takes over a ConfigMap it did not create for owner: a name
// held by any other ConfigMap gives a Stalled ExportConflict error and that
// ConfigMap keeps its data and ownerReferences. c is normally the manager's
// client, whose cache holds only labelled exports; live reads around that
// cache when a create finds the name taken.
func Write(ctx context.Context, c client.Client, live client.Reader, scheme *runtime.Scheme, owner client.Object, name, fileName string, file []byte) (Result, error) {
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
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: shardName(name, i),
			Labels: map[string]string{LabelExport: name, LabelShard: strconv.Itoa(i), v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}}}
		if res.Encoding == EncodingPlain {
			cm.Data = map[string]string{fileName: string(part)}
		} else {
			cm.BinaryData = map[string][]byte{fileName + ".gz": part}
		}
		if err := controllerutil.SetControllerReference(owner, cm, scheme); err != nil {
			return res, err
		}
		if err := put(ctx, c, live, scheme, owner, cm); err != nil {
			return res, err
		}
		res.ConfigMaps = append(res.ConfigMaps, cm.Name)
	}
	if err := deleteStaleShards(ctx, c, owner, name, len(shards)); err != nil {
		return res, err
	}
	res.Command = Command(ns, res.ConfigMaps, res.Encoding, fileName)
	return res, nil
}

// put creates or updates one shard, after checking the existing ConfigMap
// of that name is owner's.
func put(ctx context.Context, c client.Client, live client.Reader, scheme *runtime.Scheme, owner client.Object, want *corev1.ConfigMap) error {
	cur := &corev1.ConfigMap{}
	err := c.Get(ctx, client.ObjectKeyFromObject(want), cur)
	if apierrors.IsNotFound(err) {
		err = c.Create(ctx, want)
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return fmt.Errorf("creating ConfigMap %s: %w", want.Name, err)
			}
			return nil
		}
		// Not in the cache but taken: someone else's ConfigMap (the cache
		// only holds labelled exports), or ours and the cache lags.
		err = live.Get(ctx, client.ObjectKeyFromObject(want), cur)
	}
	if err != nil {
		return fmt.Errorf("reading ConfigMap %s: %w", want.Name, err)
	}
	if !Owns(owner, cur, want.Labels[LabelExport]) {
		return conflict(scheme, owner, cur)
	}
	if equality.Semantic.DeepEqual(cur.Data, want.Data) && equality.Semantic.DeepEqual(cur.BinaryData, want.BinaryData) &&
		hasLabels(cur, want.Labels) {
		return nil
	}
	for k, v := range want.Labels {
		metav1.SetMetaDataLabel(&cur.ObjectMeta, k, v)
	}
	cur.Data, cur.BinaryData = want.Data, want.BinaryData
	if err := c.Update(ctx, cur); err != nil {
		return fmt.Errorf("writing ConfigMap %s: %w", want.Name, err)
	}
	return nil
}

// Owns says whether cm is a shard of owner's export name: created by Write
// for this owner (its controller ownerReference) and labelled as that
// export. Anything else is never written, read as an export, or deleted.
func Owns(owner client.Object, cm client.Object, name string) bool {
	return metav1.IsControlledBy(cm, owner) && cm.GetLabels()[LabelExport] == name
}

func hasLabels(o client.Object, want map[string]string) bool {
	for k, v := range want {
		if o.GetLabels()[k] != v {
			return false
		}
	}
	return true
}

// conflict names the ConfigMap that blocks an export and who holds it,
// without any of its content.
func conflict(scheme *runtime.Scheme, owner client.Object, cm *corev1.ConfigMap) error {
	holder := "was not created by directory-operator"
	if ref := metav1.GetControllerOf(cm); ref != nil {
		holder = fmt.Sprintf("is controlled by %s %q", ref.Kind, ref.Name)
	}
	kind := "resource"
	if gvk, err := apiutil.GVKForObject(owner, scheme); err == nil {
		kind = gvk.Kind
	}
	return ctrlkit.Stalled(v1alpha1.ReasonExportConflict,
		"ConfigMap %q already exists and %s, not by this %s; it is left untouched: delete or rename it, or export under another name",
		cm.Name, holder, kind)
}

// Read returns the file stored by Write for owner, or nil when there is none
// yet. ConfigMaps labelled as the export but not owner's are ignored.
func Read(ctx context.Context, c client.Reader, owner client.Object, name, fileName string) ([]byte, error) {
	list, err := shards(ctx, c, owner, name)
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool {
		a, _ := strconv.Atoi(list[i].Labels[LabelShard])
		b, _ := strconv.Atoi(list[j].Labels[LabelShard])
		return a < b
	})
	var gz []byte
	for i, cm := range list {
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

// shards lists owner's ConfigMaps of export name.
func shards(ctx context.Context, c client.Reader, owner client.Object, name string) ([]corev1.ConfigMap, error) {
	var list corev1.ConfigMapList
	if err := c.List(ctx, &list, client.InNamespace(owner.GetNamespace()), client.MatchingLabels{LabelExport: name}); err != nil {
		return nil, err
	}
	out := list.Items[:0]
	for _, cm := range list.Items {
		if Owns(owner, &cm, name) {
			out = append(out, cm)
		}
	}
	return out, nil
}

func deleteStaleShards(ctx context.Context, c client.Client, owner client.Object, name string, keep int) error {
	list, err := shards(ctx, c, owner, name)
	if err != nil {
		return err
	}
	for i := range list {
		n, err := strconv.Atoi(list[i].Labels[LabelShard])
		if err == nil && n < keep {
			continue
		}
		if err := c.Delete(ctx, &list[i]); err != nil && !apierrors.IsNotFound(err) {
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

// Delete removes owner's export ConfigMaps (only those it created, never a
// user's ConfigMap that happens to share the name or the labels).
func Delete(ctx context.Context, c client.Client, owner client.Object, name string) error {
	return deleteStaleShards(ctx, c, owner, name, 0)
}
