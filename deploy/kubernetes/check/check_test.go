package check

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// render builds one overlay with kustomize's own library, as `kubectl
// kustomize` would.
func render(t *testing.T, overlay string) [][]byte {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "overlays", overlay))
	if err != nil {
		t.Fatal(err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", overlay, err)
	}
	var docs [][]byte
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	return docs
}

// object decodes one rendered document strictly into its k8s.io/api type:
// a misspelt or misplaced field fails the test.
func object(t *testing.T, doc []byte) any {
	t.Helper()
	var meta struct{ APIVersion, Kind string }
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		t.Fatal(err)
	}
	var obj any
	switch meta.APIVersion + "/" + meta.Kind {
	case "apps/v1/Deployment":
		obj = &appsv1.Deployment{}
	case "v1/Service":
		obj = &corev1.Service{}
	case "v1/ConfigMap":
		obj = &corev1.ConfigMap{}
	case "policy/v1/PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1/NetworkPolicy":
		obj = &networkingv1.NetworkPolicy{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	default:
		t.Fatalf("unexpected object %s %s", meta.APIVersion, meta.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("%s: %v\n%s", meta.Kind, err, doc)
	}
	return obj
}

func TestOverlaysRenderAndHoldTheInvariants(t *testing.T) {
	for _, overlay := range []string{"dev", "production"} {
		t.Run(overlay, func(t *testing.T) {
			kinds := map[string][]string{}
			for _, doc := range render(t, overlay) {
				switch o := object(t, doc).(type) {
				case *appsv1.Deployment:
					kinds["Deployment"] = append(kinds["Deployment"], o.Name)
					for _, err := range deploymentProblems(o) {
						t.Errorf("%s: Deployment %s: %v", overlay, o.Name, err)
					}
				case *autoscalingv2.HorizontalPodAutoscaler:
					kinds["HPA"] = append(kinds["HPA"], o.Spec.ScaleTargetRef.Name)
				case *policyv1.PodDisruptionBudget:
					kinds["PDB"] = append(kinds["PDB"], o.Name)
				case *corev1.Service:
					kinds["Service"] = append(kinds["Service"], o.Name)
				case *networkingv1.NetworkPolicy:
					kinds["NetworkPolicy"] = append(kinds["NetworkPolicy"], o.Name)
				}
			}
			for kind, want := range map[string]string{
				"Deployment": "knowledge poller registry writeback", "Service": "knowledge poller registry writeback",
				"PDB": "knowledge poller registry writeback", "HPA": "poller", "NetworkPolicy": "connectorhub-default connectorhub-grpc",
			} {
				if got := strings.Join(sorted(kinds[kind]), " "); got != want {
					t.Errorf("%s: %s objects %q, want %q", overlay, kind, got, want)
				}
			}
		})
	}
}

// deploymentProblems lists what breaks the invariants: every image pinned
// (a tag that is not latest, or a digest); probes on /healthz and /readyz;
// requests and limits; non-root, read-only root filesystem, no privilege
// escalation, all capabilities dropped, seccomp RuntimeDefault.
func deploymentProblems(d *appsv1.Deployment) []error {
	var errs []error
	pod := d.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		errs = append(errs, fmt.Errorf("pod not pinned to a non-root user"))
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		errs = append(errs, fmt.Errorf("pod seccomp profile is not RuntimeDefault"))
	}
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		if problem := imageProblem(c.Image); problem != "" {
			errs = append(errs, fmt.Errorf("container %s image %q: %s", c.Name, c.Image, problem))
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			errs = append(errs, fmt.Errorf("container %s: no liveness probe on /healthz", c.Name))
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			errs = append(errs, fmt.Errorf("container %s: no readiness probe on /readyz", c.Name))
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				errs = append(errs, fmt.Errorf("container %s: no %s request", c.Name, res))
			}
			if _, ok := c.Resources.Limits[res]; !ok {
				errs = append(errs, fmt.Errorf("container %s: no %s limit", c.Name, res))
			}
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			errs = append(errs, fmt.Errorf("container %s: no securityContext", c.Name))
			continue
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			errs = append(errs, fmt.Errorf("container %s: root filesystem writable", c.Name))
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			errs = append(errs, fmt.Errorf("container %s: privilege escalation allowed", c.Name))
		case sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot, sc.RunAsUser != nil && *sc.RunAsUser == 0:
			errs = append(errs, fmt.Errorf("container %s: runs as root", c.Name))
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
			errs = append(errs, fmt.Errorf("container %s: capabilities not dropped to none", c.Name))
		}
	}
	return errs
}

// imageProblem says why an image reference is not pinned ("" when it is).
func imageProblem(image string) string {
	if strings.Contains(image, "@sha256:") {
		return ""
	}
	name := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(name, ":")
	switch {
	case i < 0:
		return "no tag"
	case name[i+1:] == "latest":
		return "tag latest"
	}
	return ""
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestTheChecksCatchABrokenDeployment: the invariants fail on what they
// guard against, so the test above cannot pass vacuously.
func TestTheChecksCatchABrokenDeployment(t *testing.T) {
	d := &appsv1.Deployment{}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "connectorhub:latest"}}
	errs := deploymentProblems(d)
	want := []string{"non-root user", "seccomp", "tag latest", "liveness", "readiness", "cpu request", "memory limit", "no securityContext"}
	got := fmt.Sprint(errs)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("a bare Deployment: problems %v miss %q", errs, w)
		}
	}
	for image, problem := range map[string]string{"x/y": "no tag", "x/y:latest": "tag latest", "reg:5000/x/y": "no tag", "x/y:1.2": "", "x/y@sha256:ab": ""} {
		if got := imageProblem(image); got != problem {
			t.Errorf("imageProblem(%q) = %q, want %q", image, got, problem)
		}
	}
}
