// gridvcsim: a small vCenter simulator for GridAutomation's vSphere provider tests and benchmark.
// It builds a vCenter inventory with govmomi's simulator package from flags, serves it on 127.0.0.1
// (HTTP, or HTTPS with the certificate/key given) and prints one line "URL <url>" once it is ready.
// It stops when its standard input closes or on SIGINT/SIGTERM.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	// The vAPI REST endpoints (tagging, session) on /rest.
	_ "github.com/vmware/govmomi/vapi/simulator"
)

func main() {
	dc := flag.Int("dc", 1, "datacenters")
	cluster := flag.Int("cluster", 1, "clusters per datacenter")
	clusterHost := flag.Int("host", 2, "hosts per cluster")
	standalone := flag.Int("standalone-host", 1, "standalone hosts per datacenter")
	vm := flag.Int("vm", 2, "VMs per resource pool (each cluster's and each standalone host's)")
	templates := flag.Int("templates", 1, "VMs of the first datacenter turned into templates (powered off, marked as template)")
	ds := flag.Int("ds", 1, "datastores")
	pool := flag.Int("pool", 0, "child resource pools per cluster (DC0_C0_RP1...), each with its own VMs")
	portgroup := flag.Int("portgroup", 0, "distributed port groups per datacenter (DC0_DVPG0... on one switch DC0_DVS); 0: none, every VM's card on \"VM Network\"")
	autostart := flag.Bool("autostart", true, "power on the VMs")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	cert := flag.String("tls-cert", "", "PEM certificate file: serve HTTPS with it")
	key := flag.String("tls-key", "", "PEM private key file for -tls-cert")
	username := flag.String("username", "user", "user name accepted by SessionManager.Login")
	password := flag.String("password", "pass", "password accepted by SessionManager.Login")
	delay := flag.Int("delay", 0, "milliseconds added to every SOAP method")
	methodDelay := flag.String("method-delay", "", "per method delays, e.g. PowerOnVM_Task:500,CloneVM_Task:1000 (ms)")
	quiet := flag.Bool("quiet", true, "silence the simulator's own log")
	flag.Parse()

	if !strings.HasPrefix(*listen, "127.") && !strings.HasPrefix(*listen, "localhost:") && !strings.HasPrefix(*listen, "[::1]:") {
		log.Fatalf("refusing to listen on %s: loopback only", *listen)
	}
	if *quiet {
		log.SetOutput(ioutil.Discard)
	}

	model := simulator.VPX()
	model.Datacenter = *dc
	model.Cluster = *cluster
	model.ClusterHost = *clusterHost
	model.Host = *standalone
	model.Machine = *vm
	model.Datastore = *ds
	model.Pool = *pool
	model.Autostart = *autostart
	model.Portgroup = *portgroup
	model.DelayConfig.Delay = *delay
	model.DelayConfig.MethodDelay = map[string]int{}
	if *methodDelay != "" {
		for _, kv := range strings.Split(*methodDelay, ",") {
			parts := strings.SplitN(kv, ":", 2)
			if len(parts) == 2 {
				var ms int
				fmt.Sscanf(parts[1], "%d", &ms)
				model.DelayConfig.MethodDelay[parts[0]] = ms
			}
		}
	}

	if err := model.Create(); err != nil {
		fatal("create model: %v", err)
	}
	defer model.Remove()

	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}
	model.Service.RegisterEndpoints = true
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			fatal("load certificate: %v", err)
		}
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	}
	s := model.Service.NewServer()
	defer s.Close()
	// Our NFC upload handler (nfc.go): uploads land in the datastore file (govmomi's discards them).
	// (ServeMux matches host patterns on the host name without the port)
	registerNfc(model.Service.ServeMux, s.URL.Hostname(), "localhost")
	// Our CloneVM_Task fix (clone.go): a clone leaves its source's disks as they were and copies their bytes.
	registerClone(model.Service.ServeMux, model.Service, s.URL.Path, s.URL.Hostname(), "localhost")

	if *templates > 0 {
		if err := makeTemplates(s.URL, *templates); err != nil {
			fatal("templates: %v", err)
		}
	}

	u := *s.URL
	u.User = nil
	fmt.Printf("URL %s\n", u.String())
	os.Stdout.Sync()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		io.Copy(ioutil.Discard, os.Stdin)
		stop <- syscall.SIGTERM
	}()
	<-stop
}

// makeTemplates powers off, renames to "template-<i>" and marks as template the first n VMs of the first
// datacenter, through a govmomi client of this very server.
func makeTemplates(su *url.URL, n int) error {
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, su, true)
	if err != nil {
		return err
	}
	defer c.Logout(ctx)
	finder := find.NewFinder(c.Client, false)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		dcs, derr := finder.DatacenterList(ctx, "*")
		if derr != nil || len(dcs) == 0 {
			return err
		}
		dc = dcs[0]
	}
	finder.SetDatacenter(dc)
	vms, err := finder.VirtualMachineList(ctx, "*")
	if err != nil {
		return err
	}
	for i := 0; i < n && i < len(vms); i++ {
		vm := vms[i]
		if state, _ := vm.PowerState(ctx); state == types.VirtualMachinePowerStatePoweredOn {
			t, err := vm.PowerOff(ctx)
			if err != nil {
				return err
			}
			if err = t.Wait(ctx); err != nil {
				return err
			}
		}
		t, err := vm.Rename(ctx, fmt.Sprintf("template-%d", i))
		if err != nil {
			return err
		}
		if err = t.Wait(ctx); err != nil {
			return err
		}
		if err = vm.MarkAsTemplate(ctx); err != nil {
			return err
		}
	}
	return nil
}

func fatal(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}

