package directoryuser_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// A ClusterDirectory whose credential lives in a platform namespace serves
// the namespaces it allows (by name or by label) and refuses any other with
// a named reason, before a token is ever requested for it.
func TestClusterDirectoryServesAllowedNamespacesOnly(t *testing.T) {
	platform, allowed, labelled, other := env.Namespace(t), env.Namespace(t), env.Namespace(t), env.Namespace(t)
	labelNamespace(t, labelled, "entra.example/tenant-access", "yes")
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: platform, Name: "entra-credentials", Labels: testenv.CredentialLabels()},
		Data:       map[string][]byte{"clientSecret": []byte(testenv.ClientSecret), "ca.crt": env.Sim.CACertPEM()},
	}
	cd := &v1alpha1.ClusterDirectory{
		ObjectMeta: metav1.ObjectMeta{Name: "shared-" + platform},
		Spec: v1alpha1.ClusterDirectorySpec{
			DirectorySpec: v1alpha1.DirectorySpec{
				TenantID: env.Sim.TenantID(), ClientID: testenv.ClientID,
				Credential: v1alpha1.DirectoryCredential{ClientSecret: &v1alpha1.SecretKeySelector{Name: secret.Name, Key: "clientSecret"}},
				Cloud: v1alpha1.CloudSpec{Name: v1alpha1.CloudCustom, AuthorityHost: env.Sim.URL() + "/", GraphEndpoint: env.Sim.URL(),
					CABundle: &v1alpha1.SecretKeySelector{Name: secret.Name, Key: "ca.crt"}},
			},
			CredentialNamespace: platform,
			AllowedNamespaces: v1alpha1.AllowedNamespaces{Names: []string{allowed},
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"entra.example/tenant-access": "yes"}}},
		},
	}
	create(t, secret, cd)
	testenv.Eventually(t, 30*time.Second, "ClusterDirectory Ready", func() bool {
		env.Get(t, cd)
		return meta.IsStatusConditionTrue(cd.Status.Conditions, v1alpha1.ConditionReady)
	})
	ref := v1alpha1.DirectoryReference{Kind: v1alpha1.KindClusterDirectory, Name: cd.Name}
	byName, byLabel := newUser(allowed, "alma", "alma.cluster@contoso.com"), newUser(labelled, "lars", "lars.cluster@contoso.com")
	byName.Spec.DirectoryRef, byLabel.Spec.DirectoryRef = ref, ref
	create(t, byName, byLabel)
	waitReady(t, byName)
	waitReady(t, byLabel)

	tokens := env.Sim.Counters().TokenRequests
	refused := newUser(other, "otto", "otto.cluster@contoso.com")
	refused.Spec.DirectoryRef = ref
	create(t, refused)
	c := waitCondition(t, refused, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonNamespaceNotAllowed, 30*time.Second)
	if !strings.Contains(c.Message, other) || !strings.Contains(c.Message, cd.Name) {
		t.Errorf("message should name the namespace and the ClusterDirectory: %q", c.Message)
	}
	if n := env.Sim.Counters().TokenRequests - tokens; n != 0 {
		t.Errorf("%d token requests for a refused namespace", n)
	}
	if _, ok := env.Sim.GetUser("otto.cluster@contoso.com"); ok {
		t.Errorf("a user was created for a refused namespace")
	}

	// Deleting the ClusterDirectory waits for its dependents in every namespace.
	if err := env.Client.Delete(ctx(), cd); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "ClusterDirectory DeletionBlocked", func() bool {
		env.Get(t, cd)
		c := meta.FindStatusCondition(cd.Status.Conditions, v1alpha1.ConditionDeletionBlocked)
		return c != nil && strings.Contains(c.Message, "3 DirectoryUser")
	})
	for _, du := range []*v1alpha1.DirectoryUser{byName, byLabel, refused} {
		if err := env.Client.Delete(ctx(), du); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 30*time.Second, "ClusterDirectory released", func() bool {
		err := env.Client.Get(ctx(), client.ObjectKeyFromObject(cd), &v1alpha1.ClusterDirectory{})
		return apierrors.IsNotFound(err)
	})
	for _, upn := range []string{"alma.cluster@contoso.com", "lars.cluster@contoso.com"} {
		if _, ok := env.Sim.GetUser(upn); ok {
			t.Errorf("%s was left in Graph", upn)
		}
	}
}

func labelNamespace(t *testing.T, name, key, value string) {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := env.Client.Get(ctx(), client.ObjectKey{Name: name}, ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[key] = value
	if err := env.Client.Update(ctx(), ns); err != nil {
		t.Fatal(err)
	}
}
