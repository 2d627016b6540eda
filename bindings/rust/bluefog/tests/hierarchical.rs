// SPDX-License-Identifier: Apache-2.0
// Machine layout and hierarchical_neighbor_allreduce with two ranks per machine (one machine at
// 2 ranks, two machines at 4), checked against closed forms.
use bluefog::{Context, InitOptions, NeighborArgs, Topology};

fn bf() -> &'static Context {
    let options = InitOptions { nodes_per_machine: 2, ..InitOptions::default() };
    Context::global_with_options(&options).expect("bluefog initialization failed")
}

#[test]
fn machines_of_two_ranks() {
    let bf = bf();
    let (rank, size) = (bf.rank(), bf.size());
    assert_eq!(bf.local_size(), 2);
    assert_eq!(bf.local_rank(), rank % 2);
    assert_eq!(bf.machine_size(), size / 2);
    assert_eq!(bf.machine_rank(), rank / 2);
    assert!(bf.is_homogeneous());
}

#[test]
fn hierarchical_neighbor_allreduce_averages_machine_sums() {
    let bf = bf();
    let (rank, size) = (bf.rank(), bf.size());
    let machines = bf.machine_size();
    assert!(bf.machine_topology().unwrap().is_none(), "init sets no machine topology");

    // Fully connected machines with weights 1/M: every machine gets the mean of the machine sums,
    // divided by the local size, which is the global mean of x_r = [r + 1, -2 (r + 1)].
    bf.set_machine_topology(&Topology::fully_connected(machines).unwrap(), true).unwrap();
    let (topology, weighted) = bf.machine_topology().unwrap().expect("machine topology set");
    assert!(weighted);
    assert_eq!(topology.size(), machines);

    let mean = (size + 1) as f64 / 2.0;
    let input = vec![(rank + 1) as f64, -2.0 * (rank + 1) as f64];
    let mut output = vec![0.0; 2];
    bf.hierarchical_neighbor_allreduce(&input, &mut output, &NeighborArgs::new()).unwrap();
    assert!(
        (output[0] - mean).abs() < 1e-12 && (output[1] + 2.0 * mean).abs() < 1e-12,
        "{output:?}"
    );

    // Dynamic machine lists: machine m keeps its own sum with weight 1 and receives nothing,
    // so every rank gets its machine's mean.
    let machine = bf.machine_rank();
    let machine_mean = (2 * machine + 1) as f64 + 0.5; // ranks 2m, 2m+1 hold 2m+1, 2m+2
    let args = NeighborArgs::new().with_weights(1.0, &[]).dynamic(&[]);
    let x = bf
        .hierarchical_neighbor_allreduce_async(vec![(rank + 1) as f32; 3], &args)
        .unwrap()
        .wait()
        .unwrap();
    assert!(x.iter().all(|&v| (v as f64 - machine_mean).abs() < 1e-6), "{x:?}");
}
