// vsphere-inventory-peer: the peer our provider is measured against (and the oracle its tests compare with).
// It lists the VMs of the first datacenter with govmomi's own view.Manager + property.Collector, retrieving the
// same properties as GridAutomation's vSphere provider, decoded into govmomi's mo.VirtualMachine.
//
//	vsphere-inventory-peer -url http://127.0.0.1:1234/sdk -user u -pass p [-json] [-repeat N] [-warmup N]
//
// Prints "PEER count=<n> ms=<best of repeat>" (and with -json one JSON object per VM first).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"sort"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

var props = []string{
	"name", "config.instanceUuid", "config.template", "config.hardware.numCPU", "config.hardware.memoryMB",
	"config.annotation", "config.guestFullName", "config.guestId", "runtime.powerState", "runtime.host",
	"runtime.connectionState", "guest.ipAddress", "guest.net", "guest.toolsRunningStatus", "resourcePool", "parent",
	"summary.storage.committed", "summary.storage.uncommitted",
}

type vmOut struct {
	MoRef        string `json:"moref"`
	Name         string `json:"name"`
	InstanceUuid string `json:"instanceUuid"`
	Template     bool   `json:"template"`
	NumCPU       int32  `json:"numCPU"`
	MemoryMB     int32  `json:"memoryMB"`
	PowerState   string `json:"powerState"`
	Host         string `json:"host"`
	HostName     string `json:"hostName"`
	ResourcePool string `json:"resourcePool"`
}

func main() {
	rawURL := flag.String("url", "", "SDK URL")
	user := flag.String("user", "user", "user name")
	pass := flag.String("pass", "pass", "password")
	asJSON := flag.Bool("json", false, "print one JSON object per VM")
	repeat := flag.Int("repeat", 1, "timed runs (best is printed)")
	warmup := flag.Int("warmup", 0, "untimed runs first")
	flag.Parse()

	u, err := url.Parse(*rawURL)
	if err != nil {
		fail(err)
	}
	u.User = url.UserPassword(*user, *pass)
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		fail(err)
	}
	defer c.Logout(ctx)

	finder := find.NewFinder(c.Client, false)
	dcs, err := finder.DatacenterList(ctx, "*")
	if err != nil || len(dcs) == 0 {
		fail(fmt.Errorf("no datacenter: %v", err))
	}
	dc := dcs[0]

	m := view.NewManager(c.Client)
	list := func() []mo.VirtualMachine {
		v, err := m.CreateContainerView(ctx, dc.Reference(), []string{"VirtualMachine"}, true)
		if err != nil {
			fail(err)
		}
		defer v.Destroy(ctx)
		var vms []mo.VirtualMachine
		if err := v.Retrieve(ctx, []string{"VirtualMachine"}, props, &vms); err != nil {
			fail(err)
		}
		return vms
	}

	for i := 0; i < *warmup; i++ {
		list()
	}
	var best time.Duration
	var vms []mo.VirtualMachine
	var all []time.Duration
	for i := 0; i < *repeat || i == 0; i++ {
		start := time.Now()
		vms = list()
		d := time.Since(start)
		all = append(all, d)
		if i == 0 || d < best {
			best = d
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	median := all[len(all)/2]

	if *asJSON {
		hostNames := map[types.ManagedObjectReference]string{}
		var hosts []mo.HostSystem
		pc := property.DefaultCollector(c.Client)
		hv, err := m.CreateContainerView(ctx, dc.Reference(), []string{"HostSystem"}, true)
		if err == nil {
			_ = hv.Retrieve(ctx, []string{"HostSystem"}, []string{"name"}, &hosts)
			_ = hv.Destroy(ctx)
		}
		_ = pc
		for _, h := range hosts {
			hostNames[h.Self] = h.Name
		}
		enc := json.NewEncoder(os.Stdout)
		for _, vm := range vms {
			o := vmOut{MoRef: vm.Self.Value, Name: vm.Name, PowerState: string(vm.Runtime.PowerState)}
			if vm.Config != nil {
				o.InstanceUuid = vm.Config.InstanceUuid
				o.Template = vm.Config.Template
				o.NumCPU = vm.Config.Hardware.NumCPU
				o.MemoryMB = vm.Config.Hardware.MemoryMB
			}
			if vm.Runtime.Host != nil {
				o.Host = vm.Runtime.Host.Value
				o.HostName = hostNames[*vm.Runtime.Host]
			}
			if vm.ResourcePool != nil {
				o.ResourcePool = vm.ResourcePool.Value
			}
			_ = enc.Encode(o)
		}
	}
	fmt.Printf("PEER count=%d ms=%.1f median=%.1f\n", len(vms), float64(best.Microseconds())/1000.0, float64(median.Microseconds())/1000.0)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "peer:", err)
	os.Exit(1)
}
