package userdisablebatch

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// The janitor deletes audit exports past their retention and nothing else.
func TestJanitorDeletesOnlyExpiredAudits(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	cm := func(name string, labels, annotations map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: labels, Annotations: annotations}}
	}
	audit := map[string]string{LabelAudit: "UserDisableBatch"}
	c := fake.NewClientBuilder().WithObjects(
		cm("expired-audit", audit, map[string]string{AnnotationExpiry: now.Add(-time.Minute).Format(time.RFC3339)}),
		cm("kept-audit", audit, map[string]string{AnnotationExpiry: now.Add(time.Hour).Format(time.RFC3339)}),
		cm("app-config", nil, map[string]string{AnnotationExpiry: now.Add(-time.Hour).Format(time.RFC3339)}),
	).Build()
	j := &janitor{c: c, reader: c, now: func() time.Time { return now }}
	if err := j.sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	var list corev1.ConfigMapList
	if err := c.List(context.Background(), &list, client.InNamespace("ns")); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, item := range list.Items {
		left = append(left, item.Name)
	}
	if len(left) != 2 || left[0] != "app-config" || left[1] != "kept-audit" {
		t.Errorf("left %v, want app-config and kept-audit", left)
	}
}
